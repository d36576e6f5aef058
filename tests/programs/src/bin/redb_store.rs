//! A real embedded database (redb) in a `--dir`: `insert N` writes N records to
//! `/data/records.redb` in batches of 10 000 per transaction; `check N` reopens it and
//! reads every record back, checking each value.
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const RECORDS: TableDefinition<u64, &str> = TableDefinition::new("records");

fn value(key: u64) -> String {
    format!("record {key} squared {}", key.wrapping_mul(key))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args[2].parse().expect("count");
    match args[1].as_str() {
        "insert" => {
            let db = Database::create("/data/records.redb").expect("create database");
            let mut key = 0;
            while key < count {
                let txn = db.begin_write().expect("begin write");
                {
                    let mut table = txn.open_table(RECORDS).expect("open table");
                    for k in key..(key + 10_000).min(count) {
                        table.insert(k, value(k).as_str()).expect("insert");
                    }
                }
                txn.commit().expect("commit");
                key += 10_000;
            }
            println!("inserted {count}");
        }
        "check" => {
            let db = Database::open("/data/records.redb").expect("open database");
            let txn = db.begin_read().expect("begin read");
            let table = txn.open_table(RECORDS).expect("open table");
            let mut seen = 0u64;
            for entry in table.iter().expect("iterate") {
                let (key, stored) = entry.expect("entry");
                assert_eq!(stored.value(), value(key.value()), "record {}", key.value());
                seen += 1;
            }
            assert_eq!(table.get(count / 2).expect("get").expect("present").value(), value(count / 2));
            println!("checked {seen} of {count}");
        }
        other => panic!("unknown mode {other}"),
    }
}
