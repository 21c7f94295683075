version 1.0

workflow retry_exhausted {
  call always_fails
}

task always_fails {
  command <<<
    exit 2
  >>>
  runtime {
    maxRetries: 1
  }
}
