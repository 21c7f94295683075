version 1.0

workflow optional_defaults {
  input {
    String? nickname
    String greeting = "Hello"
    String? unused
  }
  call greet { input: name = select_first([nickname, "friend"]), greeting = greeting }
  call greet as greet2 { input: name = "Bob" }
  output {
    String a = greet.line
    String b = greet2.line
    Boolean has_nickname = defined(nickname)
  }
}

task greet {
  input {
    String name
    String greeting = "Hi"
    String punctuation = "!"
    Int? repeat
  }
  command <<<
    echo "~{greeting}, ~{name}~{punctuation} repeat=~{default='none' repeat}"
  >>>
  output {
    String line = read_string(stdout())
  }
}
