version 1.0

workflow continue_rc_list {
  call exits as four { input: code = 4, accepted = [0, 4] }
  call exits as zero { input: code = 0, accepted = [0, 4] }
  call exits_any { input: code = 9 }
  output {
    Array[String] outs = [four.out, zero.out, exits_any.out]
  }
}

task exits {
  input {
    Int code
    Array[Int] accepted
  }
  command <<<
    echo "exit ~{code}"
    exit ~{code}
  >>>
  runtime {
    continueOnReturnCode: accepted
  }
  output {
    String out = read_string(stdout())
  }
}

task exits_any {
  input {
    Int code
  }
  command <<<
    echo "exit ~{code}"
    exit ~{code}
  >>>
  runtime {
    continueOnReturnCode: true
  }
  output {
    String out = read_string(stdout())
  }
}
