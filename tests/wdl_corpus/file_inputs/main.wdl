version 1.0

workflow file_inputs {
  input {
    File reads
    Array[File] parts
  }
  call count_lines { input: f = reads }
  call concat { input: files = parts }
  output {
    Int lines = count_lines.n
    File joined = concat.joined
    String reads_name = basename(reads)
    File reads_again = reads
  }
}

task count_lines {
  input {
    File f
  }
  command <<<
    wc -l < "~{f}"
  >>>
  output {
    Int n = read_int(stdout())
  }
}

task concat {
  input {
    Array[File] files
  }
  command <<<
    cat ~{sep=" " files} > joined.txt
  >>>
  output {
    File joined = "joined.txt"
  }
}
