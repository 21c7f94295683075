version 1.1

# "after" orders calls that share no data: check runs only once mark has finished.
workflow after_clause {
  call mark
  call check after mark
  output {
    String seen = check.seen
  }
}

task mark {
  command <<<
    echo "marked" > ../../../mark-was-here
  >>>
}

task check {
  command <<<
    # test driver layout: <run>/<call>/attempt-<n>/work
    if [ -e ../../../mark-was-here ]; then echo "mark ran first"; else echo "mark has not run"; fi
  >>>
  output {
    String seen = read_string(stdout())
  }
}
