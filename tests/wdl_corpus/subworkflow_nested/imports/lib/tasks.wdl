version 1.0

task add_one {
  input {
    Int x
  }
  command <<<
    echo $(( ~{x} + 1 ))
  >>>
  output {
    Int y = read_int(stdout())
  }
}
