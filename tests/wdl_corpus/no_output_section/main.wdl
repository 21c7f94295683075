version 1.0

# Without an output section, every call output is a workflow output ("wf.call.output").
workflow no_output_section {
  call hello
  scatter (i in [1, 2]) {
    call number { input: i = i }
  }
}

task hello {
  command <<<
    echo hello
  >>>
  output {
    String out = read_string(stdout())
  }
}

task number {
  input {
    Int i
  }
  command <<<
    echo ~{i}
  >>>
  output {
    Int n = read_int(stdout())
  }
}
