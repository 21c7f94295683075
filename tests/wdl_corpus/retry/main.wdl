version 1.0

workflow retry {
  call flaky
  output {
    String message = flaky.message
  }
}

task flaky {
  command <<<
    # Fails on its first attempt only. The attempt count lives two levels above the work
    # directory, in the call's own directory (test driver layout: <call>/attempt-<n>/work).
    count_file=../../attempts
    n=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$count_file"
    if [ "$n" -lt 2 ]; then
      echo "attempt $n fails" >&2
      exit 1
    fi
    echo "succeeded on attempt $n"
  >>>
  runtime {
    maxRetries: 2
  }
  output {
    String message = read_string(stdout())
  }
}
