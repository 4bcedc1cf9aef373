#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cloudtask_fuzz_checks::schedule(data));
