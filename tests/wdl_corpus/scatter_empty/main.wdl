version 1.0

workflow scatter_empty {
  input {
    Array[String] names = []
  }
  scatter (name in names) {
    call hello { input: name = name }
  }
  call count { input: items = hello.out }
  output {
    Array[String] outs = hello.out
    Int n = count.n
  }
}

task hello {
  input {
    String name
  }
  command <<<
    echo "hello ~{name}"
  >>>
  output {
    String out = read_string(stdout())
  }
}

task count {
  input {
    Array[String] items
  }
  command <<<
    echo ~{length(items)}
  >>>
  output {
    Int n = read_int(stdout())
  }
}
