use tidings::Query;

#[derive(Query)]
union Lookup {
    id: u64,
}

fn main() {}
