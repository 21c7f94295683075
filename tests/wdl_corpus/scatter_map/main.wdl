version 1.1

workflow scatter_map {
  input {
    Map[String, Int] counts = {"apples": 3, "pears": 5}
  }
  scatter (entry in as_pairs(counts)) {
    call double { input: key = entry.left, value = entry.right }
  }
  output {
    Map[String, Int] doubled = as_map(double.pair)
  }
}

task double {
  input {
    String key
    Int value
  }
  command <<<
    echo $(( ~{value} * 2 ))
  >>>
  output {
    Pair[String, Int] pair = (key, read_int(stdout()))
  }
}
