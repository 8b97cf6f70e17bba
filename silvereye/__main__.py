from silvereye.cli import main

main()
