#[test] fn t(){ assert_eq!(plexus::f(),1); }
