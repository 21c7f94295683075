version 1.0

workflow stdout_stderr {
  call both
  output {
    String out = both.out
    String err = both.err
    File out_file = both.out_file
    Int out_lines = both.out_lines
  }
}

task both {
  command <<<
    echo "to stdout"
    echo "to stderr" >&2
  >>>
  output {
    String out = read_string(stdout())
    String err = read_string(stderr())
    File out_file = stdout()
    Int out_lines = length(read_lines(out_file))
  }
}
