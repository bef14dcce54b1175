import ArgumentParser

GatewayCommand.main()
