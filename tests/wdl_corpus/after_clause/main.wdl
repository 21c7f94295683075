version 1.1

# "after" orders calls that share no data: check runs only once mark has finished.
# (Each call sees only its own directory, so the two compare clocks, not files.)
workflow after_clause {
  call mark
  call check after mark
  output {
    String seen = if check.started >= mark.ended then "mark ran first" else "mark has not run"
  }
}

task mark {
  command <<<
    sleep 1
    date +%s%N
  >>>
  output {
    Int ended = read_int(stdout())
  }
}

task check {
  command <<<
    date +%s%N
  >>>
  output {
    Int started = read_int(stdout())
  }
}
