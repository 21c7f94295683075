version 1.0

workflow hello {
  input {
    String name = "world"
  }
  call say { input: who = name }
  output {
    String greeting = say.text
  }
}

task say {
  input {
    String who
  }
  command <<<
    echo "Hello, ~{who}!"
  >>>
  output {
    String text = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
