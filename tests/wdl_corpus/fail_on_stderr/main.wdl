version 1.0

workflow fail_on_stderr {
  call quiet
  call noisy { input: previous = quiet.out }
}

task quiet {
  command <<<
    echo "nothing on stderr"
  >>>
  runtime {
    failOnStderr: true
  }
  output {
    String out = read_string(stdout())
  }
}

task noisy {
  input {
    String previous
  }
  command <<<
    echo "a warning" >&2
  >>>
  runtime {
    failOnStderr: true
  }
}
