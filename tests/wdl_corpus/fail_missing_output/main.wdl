version 1.0

workflow fail_missing_output {
  call forgets
}

task forgets {
  command <<<
    echo "not writing result.txt"
  >>>
  output {
    File result = "result.txt"
  }
}
