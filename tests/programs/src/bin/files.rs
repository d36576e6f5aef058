//! Exercises the preopened directory `/data`: reads a file, writes, appends, seeks,
//! renames, lists, removes, and checks that escaping the preopen fails.
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};

fn listing(path: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(path)
        .expect("read_dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let kind = if entry.file_type().expect("file type").is_dir() { "/" } else { "" };
            format!("{}{kind}", entry.file_name().to_string_lossy())
        })
        .collect();
    names.sort();
    names
}

fn main() {
    let input = fs::read_to_string("/data/input.txt").expect("read input");
    println!("input: {}", input.trim_end());

    fs::create_dir_all("/data/out/nested").expect("create_dir_all");
    fs::write("/data/out/new.txt", "first line\n").expect("write");
    let mut file = fs::OpenOptions::new().append(true).open("/data/out/new.txt").expect("open append");
    file.write_all(b"second line\n").expect("append");
    drop(file);
    let back = fs::read_to_string("/data/out/new.txt").expect("read back");
    print!("read back:\n{back}");
    println!("size: {}", fs::metadata("/data/out/new.txt").expect("metadata").len());

    let mut file = fs::File::open("/data/out/new.txt").expect("open");
    file.seek(SeekFrom::Start(6)).expect("seek");
    let mut word = [0u8; 4];
    file.read_exact(&mut word).expect("read_exact");
    println!("at 6: {}", String::from_utf8_lossy(&word));
    println!("write to read-only fails: {}", file.write_all(b"x").is_err());
    drop(file);

    fs::rename("/data/out/new.txt", "/data/out/nested/moved.txt").expect("rename");
    println!("old name exists: {}", fs::metadata("/data/out/new.txt").is_ok());
    println!("out: {:?}", listing("/data/out"));
    println!("nested: {:?}", listing("/data/out/nested"));
    println!("data: {:?}", listing("/data"));

    fs::remove_file("/data/out/nested/moved.txt").expect("remove_file");
    fs::remove_dir("/data/out/nested").expect("remove_dir");
    println!("out after removal: {:?}", listing("/data/out"));
    println!("remove non-empty dir fails: {}", fs::remove_dir("/data").is_err());

    println!("escape via ..: {}", fs::read_to_string("/data/../secret").is_err());
    println!("outside preopens: {}", fs::read_to_string("/etc/passwd").is_err());
    println!("missing file: {:?}", fs::read("/data/missing").map_err(|error| error.kind()));

    fs::copy("/data/input.txt", "/data/copy.txt").expect("copy");
    println!("copy: {:?}", fs::read_to_string("/data/copy.txt").expect("read copy"));
    let exists = fs::File::create_new("/data/copy.txt").map_err(|error| error.kind());
    println!("create_new on existing: {:?}", exists.map(|_| ()));
    let file = fs::OpenOptions::new().write(true).open("/data/copy.txt").expect("open for write");
    file.set_len(4).expect("set_len");
    file.sync_all().expect("sync_all");
    let metadata = file.metadata().expect("metadata");
    println!("after set_len: {} bytes, file: {}", metadata.len(), metadata.is_file());
    let modified = metadata.modified().expect("modified");
    println!("modified after 2020: {}", modified > std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_577_836_800));
    drop(file);
    fs::remove_file("/data/copy.txt").expect("remove copy");
    println!("relative to cwd: {:?}", fs::read_to_string("data/input.txt").map(|text| text.len()).map_err(|error| error.kind()));
    println!("is_dir: {} {}", fs::metadata("/data/keep").expect("keep").is_dir(), fs::metadata("/data").expect("data").is_dir());

    fs::write("/data/result.txt", "written by the guest").expect("write result");
}
