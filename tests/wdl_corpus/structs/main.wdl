version 1.0

struct Sample {
  String name
  Int reads
  Array[String] tags
}

workflow structs {
  input {
    Array[Sample] samples
  }
  scatter (sample in samples) {
    call summarize { input: sample = sample }
  }
  output {
    Array[String] summaries = summarize.summary
    Array[Sample] doubled = summarize.doubled
    String first_name = samples[0].name
  }
}

task summarize {
  input {
    Sample sample
  }
  command <<<
    echo "~{sample.name}: ~{sample.reads} reads, tags [~{sep=',' sample.tags}]"
  >>>
  output {
    String summary = read_string(stdout())
    Sample doubled = object { name: sample.name, reads: sample.reads * 2, tags: sample.tags }
  }
}
