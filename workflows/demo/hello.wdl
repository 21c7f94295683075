version 1.0

workflow hello_world {
  input {
    String name = "world"
    Int times = 3
  }
  scatter (i in range(times)) {
    call greet { input: name = name, index = i }
  }
  output {
    Array[String] greetings = greet.greeting
  }
}

task greet {
  input {
    String name
    Int index
  }
  command <<<
    echo "Hello, ~{name}! (greeting ~{index + 1})"
  >>>
  output {
    String greeting = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
