version 1.0

import "tasks.wdl" as tasks

workflow inner_wf {
  input {
    Int value
  }
  call tasks.add_one { input: x = value }
  call tasks.add_one as again { input: x = add_one.y }
  output {
    Int result = again.y
    Array[String] trail = ["inner " + add_one.y, "inner " + again.y]
  }
}
