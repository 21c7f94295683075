version 1.0

workflow continue_rc_int {
  call exits_three
  output {
    String out = exits_three.out
  }
}

task exits_three {
  command <<<
    echo "exiting with 3"
    exit 3
  >>>
  runtime {
    continueOnReturnCode: 3
  }
  output {
    String out = read_string(stdout())
  }
}
