version 1.0

workflow stdlib_tsv_map {
  input {
    Array[Array[String]] rows = [["a", "1"], ["c", "3"], ["b", "2"]]
    Map[String, String] settings = {"mode": "fast", "level": "9"}
  }
  call tables { input: rows = rows, settings = settings }
  output {
    Array[Array[String]] sorted = tables.sorted
    Map[String, String] settings_copy = tables.copied
    Map[String, String] made = tables.made
  }
}

task tables {
  input {
    Array[Array[String]] rows
    Map[String, String] settings
  }
  command <<<
    sort < ~{write_tsv(rows)} > sorted.tsv
    cp ~{write_map(settings)} settings.tsv
    printf 'k1\tv1\nk2\tv2\n' > made.tsv
  >>>
  output {
    Array[Array[String]] sorted = read_tsv("sorted.tsv")
    Map[String, String] copied = read_map("settings.tsv")
    Map[String, String] made = read_map("made.tsv")
  }
}
