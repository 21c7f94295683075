version 1.0

workflow fail_exit3 {
  call ok
  call bad { input: previous = ok.out }
  call never { input: previous = bad.out }
  output {
    String out = never.out
  }
}

task ok {
  command <<<
    echo fine
  >>>
  output {
    String out = read_string(stdout())
  }
}

task bad {
  input {
    String previous
  }
  command <<<
    echo "after ~{previous}, failing" >&2
    exit 3
  >>>
  output {
    String out = "unreachable"
  }
}

task never {
  input {
    String previous
  }
  command <<<
    echo "~{previous}"
  >>>
  output {
    String out = read_string(stdout())
  }
}
