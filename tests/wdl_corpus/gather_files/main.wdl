version 1.0

workflow gather_files {
  input {
    Array[String] parts = ["one", "two", "three"]
  }
  scatter (i in range(length(parts))) {
    call write_part { input: index = i, text = parts[i] }
  }
  call merge { input: files = write_part.part }
  output {
    Array[File] part_files = write_part.part
    File merged = merge.merged
    Int merged_lines = merge.lines
  }
}

task write_part {
  input {
    Int index
    String text
  }
  command <<<
    echo "~{text}" > part_~{index}.txt
  >>>
  output {
    File part = "part_~{index}.txt"
  }
}

task merge {
  input {
    Array[File] files
  }
  command <<<
    cat ~{sep=" " files} > merged.txt
    wc -l < merged.txt
  >>>
  output {
    File merged = "merged.txt"
    Int lines = read_int(stdout())
  }
}
