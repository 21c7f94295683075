version 1.0

import "per_sample.wdl" as per_sample

# The same subworkflow once per shard: its inner calls need ids that differ per shard.
workflow subworkflow_scatter {
  input {
    Array[String] samples = ["s1", "s2", "s3"]
  }
  scatter (sample in samples) {
    call per_sample.process { input: sample = sample }
  }
  output {
    Array[String] results = process.result
  }
}
