//! A list's query string (bytes that are not UTF-8 read as a server would never see them:
//! replaced), read by the three lists and built to SQL for both databases.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stages_api::fuzzing;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::list_query(&String::from_utf8_lossy(data));
});
