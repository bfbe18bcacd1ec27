use super::*;
use crate::artifact::generate_key;

const MIB: u64 = 1024 * 1024;

fn manifest(extra: &str) -> Manifest {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.wasm"), b"not loaded").unwrap();
    let text = format!("[modules.m]\npath = \"m.wasm\"\n{extra}");
    Manifest::parse(&text, "doctor.toml", dir.path()).unwrap()
}

#[test]
fn the_mount_of_a_path_is_the_deepest_above_it() {
    let info = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /dev/shm rw shared:5 - tmpfs tmpfs rw
31 22 179:2 / /var/lib/gan\\040glion rw shared:7 - ext4 /dev/mmcblk0p2 rw
";
    let at = |p: &str| mount_of(info, Path::new(p)).unwrap();
    assert_eq!(at("/home/pi").fstype, "ext4");
    assert_eq!(at("/home/pi").source, "/dev/vda");
    assert_eq!(at("/dev/shm/x").fstype, "tmpfs");
    let sd = at("/var/lib/gan glion/data");
    assert_eq!(sd.source, "/dev/mmcblk0p2");
    assert_eq!(sd.point, Path::new("/var/lib/gan glion"));
    // A path that only shares a prefix of a name is not under that mount.
    assert_eq!(at("/dev/shmem").source, "/dev/vda");
    assert_eq!(mount_of("garbage", Path::new("/")), None);
}

#[test]
fn a_data_dir_that_cannot_be_made_or_is_in_ram_fails() {
    let dir = tempfile::tempdir().unwrap();
    let ok = data_dir(&dir.path().join("data"));
    assert_eq!(ok.verdict, Verdict::Ok, "{ok}");
    assert!(ok.detail.contains("writable"), "{ok}");
    assert!(dir.path().join("data").is_dir());
    // Root may write anywhere; a regular file in the way stops anyone.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let bad = data_dir(&file.join("data"));
    assert_eq!(bad.verdict, Verdict::Fail, "{bad}");
    assert!(bad.detail.contains("cannot be created"), "{bad}");
    assert!(bad.fix.as_deref().unwrap().contains("--data-dir"), "{bad}");
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let ram = tempfile::tempdir_in(shm).unwrap();
        let f = data_dir(ram.path());
        assert_eq!(f.verdict, Verdict::Fail, "{f}");
        assert!(
            f.detail.contains("tmpfs") && f.detail.contains("power-off"),
            "{f}"
        );
    }
}

#[test]
fn free_space_is_weighed_against_the_quotas() {
    let m = manifest("storage-quota-bytes = 1048576\n[store-and-forward]\nmax-bytes = 104857600\n");
    assert_eq!(space_needed(&m), 101 * MIB);
    let dir = tempfile::tempdir().unwrap();
    let short = free_space(dir.path(), space_needed(&m), Some(50 * MIB));
    assert_eq!(short.verdict, Verdict::Fail, "{short}");
    assert!(
        short.detail.contains("50 MiB") && short.detail.contains("101 MiB"),
        "{short}"
    );
    assert!(
        short.fix.as_deref().unwrap().contains("max-bytes"),
        "{short}"
    );
    // What the data already takes counts as room.
    std::fs::write(dir.path().join("queue"), vec![0u8; 2 * MIB as usize]).unwrap();
    let exact = free_space(dir.path(), 3 * MIB, Some(MIB));
    assert_eq!(exact.verdict, Verdict::Ok, "{exact}");
    let unknown = free_space(dir.path(), MIB, None);
    assert_eq!(unknown.verdict, Verdict::Warn, "{unknown}");
    assert!(available_bytes(dir.path()).is_some_and(|b| b > 0));
}

#[test]
fn a_pool_that_does_not_fit_the_address_space_is_a_warning() {
    let m = manifest("");
    let fits = address_space(&m, AllocationChoice::Auto, None, Some(0));
    assert_eq!(fits.verdict, Verdict::Ok, "{fits}");
    let short = address_space(&m, AllocationChoice::Auto, Some(512 * MIB), Some(0));
    assert_eq!(short.verdict, Verdict::Warn, "{short}");
    assert!(short.detail.contains("on demand"), "{short}");
    assert!(
        short.fix.as_deref().unwrap().contains("ulimit -v"),
        "{short}"
    );
    let strict = address_space(&m, AllocationChoice::Auto, None, Some(2));
    assert_eq!(strict.verdict, Verdict::Warn, "{strict}");
    assert!(strict.detail.contains("overcommit"), "{strict}");
    let asked = address_space(&m, AllocationChoice::OnDemand, Some(512 * MIB), Some(0));
    assert_eq!(asked.verdict, Verdict::Ok, "{asked}");
}

#[test]
fn a_clock_that_is_unset_or_went_back_is_named() {
    let unset = clock(UNIX_EPOCH + Duration::from_secs(86_400), None);
    assert_eq!(unset.verdict, Verdict::Fail, "{unset}");
    assert!(unset.detail.contains("1970-01-02"), "{unset}");
    assert!(unset.fix.as_deref().unwrap().contains("NTP"), "{unset}");
    let now = SystemTime::now();
    assert_eq!(clock(now, Some(now)).verdict, Verdict::Ok);
    let back = clock(now, Some(now + Duration::from_secs(3600)));
    assert_eq!(back.verdict, Verdict::Warn, "{back}");
    assert!(back.detail.contains("3600 s behind"), "{back}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db"), b"x").unwrap();
    assert!(newest_in(dir.path()).is_some());
}

#[test]
fn trusted_keys_must_be_there_and_parse() {
    assert_eq!(trusted_keys(None).verdict, Verdict::Ok);
    let dir = tempfile::tempdir().unwrap();
    let empty = trusted_keys(Some(dir.path()));
    assert_eq!(empty.verdict, Verdict::Fail, "{empty}");
    assert!(empty.detail.contains("no trusted key"), "{empty}");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    generate_key(dir.path(), "ops").unwrap();
    std::fs::rename(dir.path().join("ops.pub"), keys.join("ops.pub")).unwrap();
    let good = trusted_keys(Some(&keys));
    assert_eq!(good.verdict, Verdict::Ok, "{good}");
    assert!(good.detail.contains("1 key"), "{good}");
    std::fs::write(keys.join("broken.pub"), "not a key").unwrap();
    let broken = trusted_keys(Some(&keys));
    assert_eq!(broken.verdict, Verdict::Fail, "{broken}");
    assert!(broken.detail.contains("broken.pub"), "{broken}");
    let missing = trusted_keys(Some(&dir.path().join("nowhere")));
    assert_eq!(missing.verdict, Verdict::Fail, "{missing}");
}
