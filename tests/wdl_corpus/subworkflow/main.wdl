version 1.0

import "sub/greet.wdl" as greet

workflow subworkflow {
  input {
    Array[String] names = ["ann", "bob"]
  }
  call greet.greet_all { input: names = names }
  call greet.hi as direct { input: name = "cy" }
  output {
    Array[String] greetings = greet_all.greetings
    Int count = greet_all.count
    String direct_greeting = direct.out
  }
}
