workflow draft2 {
  String name = "d2"
  call hello { input: who = name }
  output {
    hello.*
  }
}

task hello {
  String who
  command {
    echo "hi ${who}"
  }
  output {
    String out = read_string(stdout())
    Int length = 4
  }
}
