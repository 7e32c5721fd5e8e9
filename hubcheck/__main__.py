from hubcheck.launch import main

main()
