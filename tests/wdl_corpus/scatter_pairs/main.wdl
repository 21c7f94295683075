version 1.0

workflow scatter_pairs {
  input {
    Array[String] names = ["ann", "bob", "cy"]
    Array[Int] ages = [31, 42, 7]
  }
  scatter (pair in zip(names, ages)) {
    call describe { input: person = pair }
  }
  output {
    Array[String] lines = describe.line
    Array[Pair[String, Int]] pairs = zip(names, ages)
  }
}

task describe {
  input {
    Pair[String, Int] person
  }
  command <<<
    echo "~{person.left} is ~{person.right}"
  >>>
  output {
    String line = read_string(stdout())
  }
}
