version 1.0

workflow scatter_simple {
  input {
    Array[Int] numbers = [1, 2, 3, 4]
  }
  scatter (n in numbers) {
    call square { input: x = n }
  }
  output {
    Array[Int] squares = square.y
    Int total = length(square.y)
  }
}

task square {
  input {
    Int x
  }
  command <<<
    echo $(( ~{x} * ~{x} ))
  >>>
  output {
    Int y = read_int(stdout())
  }
}
