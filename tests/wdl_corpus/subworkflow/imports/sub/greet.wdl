version 1.0

workflow greet_all {
  input {
    Array[String] names
  }
  scatter (name in names) {
    call hi { input: name = name }
  }
  output {
    Array[String] greetings = hi.out
    Int count = length(names)
  }
}

task hi {
  input {
    String name
  }
  command <<<
    echo "hi ~{name}"
  >>>
  output {
    String out = read_string(stdout())
  }
}
