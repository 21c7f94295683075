version 1.0

# if / else-if / else, written as nested ifs, the way WDL 1.0 spells it
workflow conditional_nested {
  input {
    Int score = 72
  }
  if (score >= 90) {
    call grade as top { input: letter = "A" }
  }
  if (score < 90) {
    if (score >= 70) {
      call grade as middle { input: letter = "C" }
    }
    if (score < 70) {
      call grade as low { input: letter = "F" }
    }
  }
  output {
    String result = select_first([top.out, middle.out, low.out])
    Array[String] ran = select_all([top.out, middle.out, low.out])
  }
}

task grade {
  input {
    String letter
  }
  command <<<
    echo "grade ~{letter}"
  >>>
  output {
    String out = read_string(stdout())
  }
}
