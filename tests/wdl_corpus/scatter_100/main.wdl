version 1.0

workflow scatter_100 {
  scatter (i in range(100)) {
    call twice { input: x = i }
  }
  call add_up { input: values = twice.y }
  output {
    Int count = length(twice.y)
    Int first = twice.y[0]
    Int last = twice.y[99]
    Int total = add_up.total
  }
}

task twice {
  input {
    Int x
  }
  command <<<
    echo $(( ~{x} * 2 ))
  >>>
  output {
    Int y = read_int(stdout())
  }
}

task add_up {
  input {
    Array[Int] values
  }
  command <<<
    total=0
    while read -r value; do total=$(( total + value )); done < ~{write_lines(values)}
    echo "$total"
  >>>
  output {
    Int total = read_int(stdout())
  }
}
