from booking_api.cli import main

main()
