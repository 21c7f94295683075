version 1.0

workflow declarations {
  input {
    Int base = 10
  }
  Int doubled = base * 2
  String label = "n=~{doubled}"
  Array[Int] series = range(3)
  call compute { input: x = doubled }
  Int after = compute.result + 1
  output {
    Int doubled_out = doubled
    String label_out = label
    Array[Int] series_out = series
    Int result = compute.result
    Int after_out = after
    String described = compute.described
  }
}

task compute {
  input {
    Int x
  }
  Int y = x + 5
  String label = "y is ~{y}"
  command <<<
    echo $(( ~{y} * 2 ))
  >>>
  output {
    Int result = read_int(stdout())
    String described = label
  }
}
