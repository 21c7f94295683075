version 1.0

# Cromwell: an integer continueOnReturnCode names the only good exit code; 0 is then a failure.
workflow continue_rc_int_rejects_zero {
  call exits_zero
}

task exits_zero {
  command <<<
    echo "exiting with 0"
  >>>
  runtime {
    continueOnReturnCode: 1
  }
}
