fn main() {
    std::process::exit(berth::run());
}
