version 1.0

workflow placeholders {
  call render { input: xs = [1, 2, 3], flag = true }
  output {
    Array[String] lines = render.lines
  }
}

task render {
  input {
    Array[Int] xs
    Boolean flag
    String? absent
    String name = "box"
  }
  # the brace form takes ${} placeholders as well as ~{}; bash variables need \$ or $NAME
  command {
    echo "${sep=',' xs}"
    echo "~{true='yes' false='no' flag}"
    echo "${default='none' absent}"
    greeting=hello
    echo "$greeting ~{name}"
    echo "${name}-${length(xs)}"
  }
  output {
    Array[String] lines = read_lines(stdout())
  }
}
