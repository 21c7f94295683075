version 1.0

workflow scatter_nested {
  input {
    Array[String] letters = ["a", "b"]
    Array[Int] digits = [1, 2, 3]
  }
  scatter (letter in letters) {
    scatter (digit in digits) {
      call join { input: a = letter, b = digit }
    }
  }
  output {
    Array[Array[String]] grid = join.joined
    Array[String] flat = flatten(join.joined)
  }
}

task join {
  input {
    String a
    Int b
  }
  command <<<
    printf '%s%s' '~{a}' '~{b}'
  >>>
  output {
    String joined = read_string(stdout())
  }
}
