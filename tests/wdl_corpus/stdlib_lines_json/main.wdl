version 1.0

workflow stdlib_lines_json {
  input {
    Array[String] words = ["alpha", "beta", "gamma"]
    Map[String, Int] counts = {"x": 1, "y": 2}
  }
  call shout { input: words = words }
  call json_files { input: counts = counts }
  output {
    Array[String] upper = shout.upper
    Map[String, Int] counts_copy = json_files.copied
    Array[String] names = json_files.names
    Int total = json_files.total
  }
}

task shout {
  input {
    Array[String] words
  }
  command <<<
    tr a-z A-Z < ~{write_lines(words)} > upper.txt
  >>>
  output {
    Array[String] upper = read_lines("upper.txt")
  }
}

task json_files {
  input {
    Map[String, Int] counts
  }
  command <<<
    cp ~{write_json(counts)} copy.json
    echo '{"total": 3, "names": ["a", "b"]}' > made.json
  >>>
  output {
    Map[String, Int] copied = read_json("copy.json")
    Map[String, String] made = read_json("made.json")
    Array[String] names = read_json("made.json")["names"]
    Int total = read_json("made.json")["total"]
  }
}
