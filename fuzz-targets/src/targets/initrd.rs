//! The initrd (cpio newc) reader and the run manifest, as the kernel reads them.

use wasmetal_initrd::manifest;

pub fn run(bytes: &[u8]) -> bool {
    let mut parsed = false;
    for entry in wasmetal_initrd::entries(bytes) {
        let Ok(entry) = entry else { break };
        parsed = true;
        // Every entry's data is also tried as a manifest, as the kernel does with the one
        // named `wasmetal/run`.
        for record in manifest::records(entry.data) {
            if record.is_err() {
                break;
            }
        }
    }
    let records_ok = manifest::records(bytes).take_while(Result::is_ok).count();
    parsed || records_ok > 0
}
