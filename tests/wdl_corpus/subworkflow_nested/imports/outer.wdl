version 1.0

import "lib/inner.wdl" as inner
import "lib/tasks.wdl" as tasks

workflow outer_wf {
  input {
    Int start
  }
  call inner.inner_wf { input: value = start + 1 }
  call tasks.add_one as finish { input: x = inner_wf.result }
  output {
    Int result = finish.y
    Array[String] trail = flatten([inner_wf.trail, ["outer " + finish.y]])
  }
}
