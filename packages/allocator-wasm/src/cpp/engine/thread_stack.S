# adakv_thread_set_stack(top): points this instance's __stack_pointer at its own stack region. Each
# worker instance of the shared-memory build calls it first: every instance's __stack_pointer starts
# at the same address (the main thread's stack), so without it workers would share one stack. Written
# in assembly because C cannot name the __stack_pointer global.
  .globaltype __stack_pointer, i32
  .globl adakv_thread_set_stack
  .type adakv_thread_set_stack,@function
adakv_thread_set_stack:
  .functype adakv_thread_set_stack (i32) -> ()
  local.get 0
  global.set __stack_pointer
  end_function
