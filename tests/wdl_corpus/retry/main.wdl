version 1.0

workflow retry {
  call flaky
  output {
    String message = flaky.message
  }
}

task flaky {
  command <<<
    # Fails on its first attempt only. Each attempt runs in a directory of its own under
    # attempt-<n> (the test driver's <call>/attempt-<n>/work, Batchsite's .../attempt-<n>/execution).
    n=$(pwd | grep -o 'attempt-[0-9]*' | tail -n 1 | cut -d- -f2)
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
