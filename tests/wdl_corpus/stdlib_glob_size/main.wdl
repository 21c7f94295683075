version 1.0

workflow stdlib_glob_size {
  call make_files
  scatter (f in make_files.texts) {
    String name = basename(f, ".txt")
  }
  output {
    Array[File] texts = make_files.texts
    Array[String] names = name
    Int count = make_files.count
    Float total_bytes = make_files.total
    Float first_bytes = make_files.first
    String renamed = sub("sample_01.bam", "\\.bam$", ".bai")
    String base = basename("/data/run/sample.fastq.gz", ".gz")
  }
}

task make_files {
  command <<<
    mkdir -p out
    printf 'aaaa' > out/a.txt
    printf 'bb' > out/b.txt
    printf 'c' > out/c.log
  >>>
  output {
    Array[File] texts = glob("out/*.txt")
    Int count = length(texts)
    Float total = size(texts)
    Float first = size(texts[0], "B")
  }
}
