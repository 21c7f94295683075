version 1.0

task task_only {
  input {
    Int a
    Int b = 2
  }
  command <<<
    echo $(( ~{a} + ~{b} ))
  >>>
  output {
    Int sum = read_int(stdout())
  }
}
